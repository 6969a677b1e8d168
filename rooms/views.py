# Placeholder views: being written (pages for rooms).
from django.http import HttpResponse


def _todo(request, pk=None):
    return HttpResponse("coming", status=501)


room_list = room_detail = seller_rooms = seller_room_create = seller_room_edit = _todo
seller_room_go_live = seller_room_end = _todo
