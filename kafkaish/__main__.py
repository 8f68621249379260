import sys

from kafkaish.cli import main

sys.exit(main())
