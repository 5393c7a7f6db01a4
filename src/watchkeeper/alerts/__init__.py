"""Alerts: rules evaluated over the catalog, a notification policy, silences, channels.

model.py holds the types every part shares (an alert instance, a notification, the notifier
protocol); rules.py parses and validates the rules file, engine.py evaluates rules into alert
states, policy.py turns alert states into notifications (grouping, repeats, silences,
acknowledgment, escalation), notifiers/ deliver them.
"""
