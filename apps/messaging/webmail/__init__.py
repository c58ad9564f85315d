"""Reading and triage in the browser: list and search selectors, reading a message, actions on copies and
folders, the team work queue, HTML sanitising, and their views.
"""
