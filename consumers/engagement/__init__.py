"""Pinpoint and Customer Profiles paths beyond the stream: the campaign hook, batch segments imported as
static segments."""
