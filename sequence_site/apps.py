from django.apps import AppConfig


class SequenceSiteConfig(AppConfig):
    name = "sequence_site"
    verbose_name = "Sequence: clients and API keys"
