import unittest

from shopping import Cart, Product


class CartTest(unittest.TestCase):
    def setUp(self):
        self.apple = Product("apple", price=0.5)
        self.bread = Product("bread", price=2.25)
        self.cart = Cart()

    def test_empty_cart_total_is_zero(self):
        self.assertEqual(self.cart.total(), 0)

    def test_adding_items_updates_total(self):
        self.cart.add(self.apple, quantity=4)
        self.cart.add(self.bread)
        self.assertAlmostEqual(self.cart.total(), 4.25)

    def test_removing_an_item(self):
