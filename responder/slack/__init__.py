"""Slack: approval prompts, verified interactions, run progress in a thread.

Nothing here is imported by the engine or at Lambda cold start; ``responder.app`` imports
``approvals.notifiers_from_settings`` only when it builds an engine, and slack-sdk only then.
"""
