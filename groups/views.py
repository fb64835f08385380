from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from groups.models import ModelGroup


@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    return render(request, "groups/group_list.html", {"groups": ModelGroup.objects.all()})
