"""axis: an interconnection axis (trục liên thông văn bản) for edXML packages between agencies."""

__version__ = "0.1.0"
