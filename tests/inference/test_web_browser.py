"""The web demo in a real headless Chromium: upload a face, wait, read the label, keep a screenshot."""

import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"),
              pytest.mark.slow]
SCREENSHOT = Path(__file__).resolve().parents[2] / "artifacts" / "web-demo.png"  # kept for a look after CI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_upload_in_a_browser_shows_the_annotated_face(random_weights, tmp_path):
    from selenium.webdriver.common.by import By

    from gclenet.inference.recognizer import Recognizer, default_weights_path
    from gclenet.inference.web import build_app

    try:  # our trained weights make the screenshot worth a look; an untrained model tests the page as well
        weights, shipped = default_weights_path(), True
    except FileNotFoundError:
        weights, shipped = random_weights, False
    recognizer = Recognizer(weights, detector="mtcnn", precision="fp32")
    app = build_app(recognizer)
    app.queue(default_concurrency_limit=1)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    from selenium.common.exceptions import WebDriverException

    try:
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    except WebDriverException as err:  # a driver that does not match the browser: not our bug
        app.close()
        pytest.skip(f"chromium could not be driven: {str(err).splitlines()[0]}")
    try:
        from skimage import data

        photo = tmp_path / "astronaut.png"
        Image.fromarray(data.astronaut()).save(photo)
        expected = recognizer.predict(str(photo))[0].label
        assert expected == "happy" or not shipped
        driver.get(f"http://127.0.0.1:{port}/")
        deadline = time.time() + 60
        while not driver.find_elements(By.CSS_SELECTOR, "input[type=file]") and time.time() < deadline:
            time.sleep(0.2)
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(photo))
        time.sleep(1.0)
        status, next_click = "", 0.0
        while "face(s)" not in status and time.time() < deadline:
            if time.time() >= next_click:  # on a slow machine the first click can beat the upload: click again
                driver.find_element(By.ID, "recognise").click()
                next_click = time.time() + 10
            time.sleep(0.3)
            status = driver.find_element(By.ID, "status").text
        assert f"1 face(s): {expected}" in status
        assert expected in driver.find_element(By.ID, "probabilities").text
        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(tmp_path / "page.png"))
        shutil.copy(tmp_path / "page.png", SCREENSHOT)
        assert np.asarray(Image.open(SCREENSHOT)).std() > 10  # not a blank page
    finally:
        driver.quit()
        app.close()
