"""The SDK: runs inside the user's app. Never raises into user code; imports no server code.

The public face is :mod:`watchkeeper`; the modules here are its rooms.
"""
