import sys

from ccrk.cli import main

sys.exit(main())
