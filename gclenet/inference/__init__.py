"""Recognising expressions: face detection, the Recognizer, video, exports, the web demo.

It imports no training or cli code (checked by the import contracts).
"""
