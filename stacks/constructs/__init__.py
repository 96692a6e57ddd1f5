"""One construct per concern: state (table), alerting (topic and key), scanner (function, role, schedule),
dashboard (dashboard and alarms)."""
