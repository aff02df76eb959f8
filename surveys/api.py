"""REST API of the write side (DESIGN.md, Public API)."""

from __future__ import annotations

from rest_framework import generics, serializers

from .models import Team, Wave
from .selectors import teams_visible_to, waves_visible_to


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "path", "parent"]


class TeamListApi(generics.ListAPIView):
    """Teams the caller may see: HR all, a manager their subtrees."""

    serializer_class = TeamSerializer

    def get_queryset(self):
        return teams_visible_to(self.request.user).order_by("path")


class WaveSerializer(serializers.ModelSerializer):
    survey = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Wave
        fields = ["id", "survey", "opens_on", "closes_at", "status"]


class WaveListApi(generics.ListAPIView):
    serializer_class = WaveSerializer

    def get_queryset(self):
        return waves_visible_to(self.request.user).order_by("-opens_on", "-id")
