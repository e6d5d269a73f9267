"""The project's exception types; the CLI maps each to one stderr line and an exit code."""


class MnistScratchError(Exception):
    """Base of every error the project raises on purpose."""

    exit_code = 1


class UsageError(MnistScratchError):
    """A bad option value or config: the user must change the command (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file or key that cannot be used."""


class PathError(UsageError):
    """A path the tool cannot use as given: a FIFO, device, folder or symlink where a file belongs, a foreign file."""


class DataError(MnistScratchError):
    """The dataset cannot be obtained or is not what it claims to be."""


class FormatError(DataError):
    """A file is malformed: bad idx header, bad pickle, bad archive, too large."""


class DigestError(DataError):
    """A file's bytes do not match the pinned digest."""


class SourceError(DataError):
    """Every source was tried and none served a verified dataset."""


class TrainingError(MnistScratchError):
    """Training cannot go on (for example a non-finite loss)."""


class CheckpointError(MnistScratchError):
    """A checkpoint is missing, corrupted, foreign or does not fit the model."""


class TargetMissed(MnistScratchError):
    """`train --target-acc`: the run finished but its best valid accuracy is below the target (exit 3)."""

    exit_code = 3


class PeerLostError(TrainingError):
    """A collective failed or timed out: another worker process died, hung or could not be reached."""


class ImagesRefused(MnistScratchError):
    """`predict`: some images could not be read (each named on stderr); the others were still predicted (exit 1)."""
