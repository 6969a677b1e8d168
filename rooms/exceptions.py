"""Room refusals, with the stable codes the socket and the API share (docs/realtime.md)."""

from liveshop.errors import ApplicationError


class RoomError(ApplicationError):
    code = "room_error"


class IllegalTransition(RoomError):
    code = "illegal_transition"
    status = 409


class RoomEnded(RoomError):
    code = "room_ended"
    status = 409
