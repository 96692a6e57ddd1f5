"""The CDK app's stacks and constructs (the Lambda code lives in ../lambdas, deployed as an asset)."""

from .assets import LayerNotBuilt, check_layer, stage_lambda_asset
from .monitor_stack import MonitorStack
from .schedule import ScheduleError

__all__ = ["LayerNotBuilt", "MonitorStack", "ScheduleError", "check_layer", "stage_lambda_asset"]
