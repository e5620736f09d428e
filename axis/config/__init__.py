"""axisd configuration: TOML files admins edit, read into frozen sections.

``conf/axisd.toml`` holds the daemon's own settings, one section per module here (``server``,
``limits``, ``signatures``, ``identity`` for ``[axis]``, ``delivery`` for ``[delivery]`` and
``[storage]``) and ``[registry]``, which names the agency files (``registry``: hand-edited TOML
and bulk CSV directories).  Every error names the file, the key and the problem
(``conf/axisd.toml: limits.max_package_bytes: expected a positive integer ...``); unknown sections
and keys are refused; relative paths are resolved against the directory of the file they appear
in, so the daemon can be started from anywhere.
"""

from axis.config._base import ConfigError, parse_duration, parse_size
from axis.config.daemon import AxisConfig, load
from axis.config.delivery import DeliveryConfig, StorageConfig
from axis.config.identity import IdentityConfig
from axis.config.registry import token_digest
from axis.config.server import ServerConfig
from axis.config.signatures import SignatureConfig
from axis.edxml.xmlsafe import ParseLimits

__all__ = ["AxisConfig", "ConfigError", "DeliveryConfig", "IdentityConfig", "ParseLimits", "ServerConfig",
           "SignatureConfig", "StorageConfig", "load", "parse_duration", "parse_size", "token_digest"]
