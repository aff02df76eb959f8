from django.db import migrations, models
from django.db.models import F


def mark_analysed_waves(apps, schema_editor):
    # Waves analysed before digests existed get none: an upgrade must not mail every past wave.
    WaveAnalysis = apps.get_model("analytics", "WaveAnalysis")
    WaveAnalysis.objects.filter(analysed_at__isnull=False).update(digests_sent_at=F("analysed_at"))


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_partial_reason")]

    operations = [
        migrations.AddField(model_name="waveanalysis", name="digests_sent_at", field=models.DateTimeField(null=True)),
        migrations.RunPython(mark_analysed_waves, migrations.RunPython.noop),
    ]
