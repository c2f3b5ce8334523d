import sys

from stenoscope.cli import main

sys.exit(main())
