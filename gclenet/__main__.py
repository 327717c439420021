import sys

from gclenet.cli.main import main

sys.exit(main())
