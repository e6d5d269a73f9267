"""Run the CLI as `python -m mnist_scratch`."""

from mnist_scratch.cli import main

if __name__ == "__main__":
    main()
