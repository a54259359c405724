"""The codec: bytes in, typed messages out, and the few frames we send back; sans-IO.

Nothing here opens a socket, reads a clock it is not handed, or imports ``asyncio``
(tests/protocol/test_isolation.py fails on one), so any transport can drive it:

- :mod:`.crc` and :mod:`.frame`: where a frame starts and ends, and whether its
  checksum holds (:class:`~.frame.FrameDecoder`).
- :mod:`.values`, :mod:`.records`, :mod:`.messages`: what a payload's strings mean,
  which fields a record has, and which message a frame is (``decode_message``).
- :mod:`.replies`: the only bytes we put on the wire (acknowledgements, commands).
- :mod:`.recognize`: which other protocol a non-frame stream speaks.
- :mod:`.escape` and :mod:`.redact`: what a peer's string may look like in a log, and
  what of it is personal.
- :mod:`.settings`: what a battery's settings are and the rules for changing them.
"""
