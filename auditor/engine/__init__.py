"""Pure decision making: rules (data) applied to facts, producing findings."""
