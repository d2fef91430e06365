"""The demo without registration (演示模式, 5.2.3-d): sample data, read-only, no money."""
