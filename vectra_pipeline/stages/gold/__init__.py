"""Gold stages (pure): episodes, the feature spec and observations, rewards, actions, versioned datasets.

The demo's entry point: ``vectra_pipeline.stages.gold.datasets.latest_dataset(data_dir, name="default")``.
"""
