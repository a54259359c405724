"""The fake cloud: an asyncio server that answers batteries on one port.

Built on the codec and nothing else of the library but :mod:`..relay`:

- :mod:`.server`: :class:`~.server.AlphaServer`, the listener and its command API.
- :mod:`.session`: one connection's life, frame by frame; :mod:`.pacing` and
  :mod:`.pending`: how fast its frames are handed on, and the commands awaiting an
  answer.
- :mod:`.doorway`: who may connect at all; :mod:`.holders` and :mod:`.credentials`:
  which connection speaks for a serial.
- :mod:`.commands`: what the owner may ask a battery to do.
- :mod:`.connections`, :mod:`.log_budget`, :mod:`.dump`: what is remembered and logged
  of who connected and what they sent.
- :mod:`.events`: what the server tells its owner, and the errors its commands raise.

Its loggers are this package's (``…protocol.server``) and its children.
"""
