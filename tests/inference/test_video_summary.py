"""A video's summary in words and its probability plot: share of frames, mean probabilities,
the video's name as the title, a legend that covers no line."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from gclenet.inference.linechart import line_chart, nice_ticks, stack_charts
from gclenet.inference.video import plot_video_probabilities
from gclenet.inference.video_record import VideoRecord, summary_text


def test_the_summary_says_share_of_frames_and_mean_probabilities():
    record = VideoRecord(file="clip.mp4", fps=25.0, frames=10, frames_analysed=10, broken_frames=0,
                         summary={"happy": 0.6, "sad": 0.2, "no face": 0.2}, frames_with_face=8,
                         mean_probs={"happy": 0.55, "sad": 0.45}, faces=[], detect_every=5, window=5, skipped_small=0)
    first, second = summary_text(record).splitlines()
    assert first == ("clip.mp4: 10 frames analysed; share of frames by the largest face's expression: "
                     "happy 60%, sad 20%, no face 20%")
    assert second.strip() == "mean probability over the 8 frame(s) with a face: happy 0.55, sad 0.45"
    no_face = summary_text(dataclasses.replace(record, summary={"no face": 1.0}, mean_probs={}))
    assert no_face.count("\n") == 1 and "mean probability" not in no_face


def test_the_legend_stands_beside_the_lines_not_on_them():
    red = (250, 0, 0)
    x = [i / 10 for i in range(50)]
    chart = np.asarray(line_chart(x, {"only": [1.0] * 50}, {"only": red}, title="t", xlabel="x", ylabel="y"))
    columns = np.flatnonzero(((np.abs(chart.astype(int) - red).sum(axis=2)) < 60).any(axis=0))
    gaps = np.flatnonzero(np.diff(columns) > 5)
    assert len(gaps) == 1  # two groups of red columns: the line, then the legend's swatch right of it
    line_end, swatch_start = columns[gaps[0]], columns[gaps[0] + 1]
    assert swatch_start > line_end and columns[-1] - swatch_start < 40


def test_the_plot_is_titled_with_the_video_and_survives_no_face(tmp_path):
    frames = tmp_path / "clip.frames.csv"
    frames.write_text("frame,time_s,faces,label,happy,sad\n0,0.000,1,happy,0.9,0.1\n1,0.100,0,,,\n")
    png = plot_video_probabilities(frames, tmp_path / "clip.png", ["happy", "sad"], video="holiday.mp4")
    assert Image.open(png).size == (1200, 420)
    empty = tmp_path / "empty.frames.csv"
    empty.write_text("frame,time_s,faces,label,happy,sad\n0,0.000,0,,,\n")
    assert Image.open(plot_video_probabilities(empty, tmp_path / "empty.png", ["happy", "sad"])).size == (1200, 420)


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.0, 1.0, most=5) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0, 37.0) == [0, 5, 10, 15, 20, 25, 30, 35]


def test_panels_stack_one_above_the_other():
    panels = [line_chart([0.0, 1.0], {"a": [0.2, 0.8]}, {}, title=f"face #{i}", xlabel="x", ylabel="y",
                         size=(300, 100)) for i in range(3)]
    assert stack_charts(panels).size == (300, 300)
