"""The package version: `runrgateway.__version__`, and what the build reads.

One assignment only, never anything more: the build reads it without importing the
package.
"""

__version__ = "0.1.0"
