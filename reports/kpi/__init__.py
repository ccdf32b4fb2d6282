"""`hitl report`: production KPIs from the store (`build.build_kpi_report`)."""
