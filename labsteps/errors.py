"""The lab's errors: one base class, so the web side can answer each in one place."""


class LabError(Exception):
    """Something a person can act on went wrong in the lab; the message says what."""
