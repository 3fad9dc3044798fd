"""`python -m mec_devtools.rnis`: run the emulated RNIS until SIGINT or SIGTERM."""

from mec_devtools.rnis.cli import main

if __name__ == "__main__":
    main()
