"""The package version, in a module of its own so that any module can read it without
importing the package's top level (which imports most of maedfer)."""

__version__ = "0.1.0"
