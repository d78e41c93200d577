"""``python -m regression_assets <subcommand>``: same as the ``regression-assets`` console script."""

import sys

from regression_assets.cli import main

if __name__ == "__main__":
    sys.exit(main())
