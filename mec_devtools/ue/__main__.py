"""`python -m mec_devtools.ue`: run one emulated device until SIGINT or SIGTERM."""

from mec_devtools.ue.cli import main

if __name__ == "__main__":
    main()
