from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("edges", "0002_edge_feed")]

    operations = [
        migrations.CreateModel(
            name="VenueMarket",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("venue", models.CharField(max_length=40)),
                ("key", models.CharField(max_length=255)),
                ("kind", models.CharField(max_length=16)),
                ("position", models.IntegerField()),
                ("data", models.JSONField()),
                ("synced_at", models.DateTimeField()),
            ],
            options={
                "indexes": [models.Index(fields=["venue", "position"], name="edges_venue_venue_a41acf_idx")],
                "constraints": [models.UniqueConstraint(fields=("venue", "key"), name="venue_market_unique")],
            },
        ),
    ]
