"""Exception hierarchy: every error a user can cause is an InspectorError with a clear message."""


class InspectorError(Exception):
    """Base class of all errors Inspector raises on purpose."""


class ConfigError(InspectorError):
    """A configuration file or flag is invalid."""


class ModelError(InspectorError):
    """A model bundle is missing, corrupt, or does not match its card."""


class SourceError(InspectorError):
    """A frame source cannot be opened or read."""


class EndOfSource(SourceError):
    """A finite source (file, folder) has no more frames."""


class StoreError(InspectorError):
    """The inspection store cannot be written or read."""


class DatasetError(InspectorError):
    """A training or evaluation dataset is malformed (empty class, unknown label, ...)."""


class SerialError(InspectorError):
    """A serial number could not be obtained or is malformed."""


class TraceError(InspectorError):
    """An upstream process event is malformed."""
