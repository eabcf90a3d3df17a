from django.apps import AppConfig


class AlgoStudioConfig(AppConfig):
    name = "algo_studio"
