"""Test helpers for apps that use watchkeeper: ``capture()``, see :mod:`watchkeeper.sdk.testing`."""

from watchkeeper.sdk.testing import Captured, capture

__all__ = ["Captured", "capture"]
