"""Oracle readers: they report what feeds say, with every field the guards need; guards judge."""
