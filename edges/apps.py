from django.apps import AppConfig


class EdgesConfig(AppConfig):
    name = "edges"
