"""The validation queue of applicative BALs: a responsible professional releases or rejects what software
submitted.
"""
