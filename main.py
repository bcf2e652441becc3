"""Start the cnnviz desktop app: python main.py"""

import sys

from cnnviz.__main__ import main

if __name__ == "__main__":
    sys.exit(main([]))
