"""REST API of the write side (DESIGN.md, Public API)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers

from ..models import Team, Wave
from ..selectors import teams_visible_to, waves_visible_to


class DetailSerializer(serializers.Serializer):
    """DRF's own error body, e.g. for missing credentials or an unsupported media type."""

    detail = serializers.CharField()


# SessionAuthentication comes first in DEFAULT_AUTHENTICATION_CLASSES and sends no
# WWW-Authenticate challenge, so DRF answers a missing or unknown token with 403, not 401.
NO_CREDENTIALS = OpenApiResponse(
    DetailSerializer, description="No valid credentials: the `Authorization: Token <key>` header is missing or unknown."
)


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "path", "parent"]


@extend_schema(responses={200: TeamSerializer, 403: NO_CREDENTIALS})
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


@extend_schema(responses={200: WaveSerializer, 403: NO_CREDENTIALS})
class WaveListApi(generics.ListAPIView):
    """Waves the caller may see, newest first: HR all, a manager those that invited anyone in their subtrees."""

    serializer_class = WaveSerializer

    def get_queryset(self):
        return waves_visible_to(self.request.user).order_by("-opens_on", "-id")
