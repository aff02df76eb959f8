"""HTML forms of the read side: what HR chooses for an export."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from surveys.models import Team, Wave

from . import selectors
from .models import ExportAudit


class WaveChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Wave) -> str:
        return f"{formats.localize(obj.opens_on)} · {obj.survey.name} (#{obj.pk})"


class TeamChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return obj.path


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"), choices=ExportAudit.Format.choices, initial=ExportAudit.Format.CSV, widget=forms.RadioSelect
    )
    waves = WaveChoiceField(
        label=_("Waves"),
        queryset=Wave.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Closed waves with released results. None chosen: all of them."),
    )
    teams = TeamChoiceField(
        label=_("Teams"),
        queryset=Team.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text=_("Each team brings its sub-teams. None chosen: the whole organisation."),
    )

    def __init__(self, *args: object, user: AbstractBaseUser, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["waves"].queryset = selectors.exportable_waves(user=user)
        self.fields["teams"].queryset = selectors.exportable_teams(user=user)
