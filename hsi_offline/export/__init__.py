"""Policy export: trained actor -> ONNX with deploy metadata (``onnx_export``), checkpoint loading
(``checkpoint``) and the shipped hold-default-pose placeholder (``hold_default``)."""

from hsi_offline.export.onnx_export import ExportResult, export_policy

__all__ = ["ExportResult", "export_policy"]
