@file:Suppress("unused", "UNUSED_PARAMETER")

package android.app

import android.content.Context
import android.os.Bundle
import android.view.View

open class Activity : Context() {
    open fun onCreate(savedInstanceState: Bundle?) {}
    open fun onDestroy() {}
    fun setContentView(view: View) {}
    fun runOnUiThread(action: Runnable) {}
}
