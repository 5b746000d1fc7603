"""The real-footage dev set (questions about real clips, checked in their frames) and the event benchmark on hand-labelled real footage."""
