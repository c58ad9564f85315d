"""The message's path: submission, inbound reception, deliveries and their state machine, the batch depositor,
bounces, the transport interface to the gateway and the depositor's wake flag.
"""
