"""Use cases: admission (the pre-flight), running statements, offloading, detached jobs, streaming.

The only writer of job records; knows nothing of Flight (protocol/ decodes and encodes around it).
"""
