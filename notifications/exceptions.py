"""Notification refusals, with the stable codes pages and the API share (docs/api.md)."""

from liveshop.errors import ApplicationError


class ReminderError(ApplicationError):
    code = "reminder_error"


class RoomNotScheduled(ReminderError):
    """A reminder only makes sense before the show: a live one can be joined right away,
    an ended one will never start."""

    code = "room_not_scheduled"
    status = 409


class OwnRoomReminder(ReminderError):
    code = "own_room"
    status = 400
