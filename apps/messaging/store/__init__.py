"""Storage of mail: encrypted blobs and content, MIME writing and reading, folders, the blind search index,
text rules and IHE_XDM packages. Imports nothing else of messaging but its models and constants.
"""
